"""labornet intake: cases as submitted, citizen contact and consent, timeline."""
