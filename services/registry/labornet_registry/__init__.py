"""labornet registry: the field-agent network."""
