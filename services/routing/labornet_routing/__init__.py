"""labornet routing: screening, referral and follow-up."""
