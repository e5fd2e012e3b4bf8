"""Small shared utilities: user-facing errors, atomic file writes, image reading, logging."""
