"""Task taxonomy and profiles (TOML data) and the task recogniser."""
