"""labornet notify: deliveries to citizens, field agents and agencies."""
