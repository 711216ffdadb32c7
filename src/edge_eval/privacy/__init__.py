"""Privacy: network guard, small-cell suppression, hashing and the manifest."""
