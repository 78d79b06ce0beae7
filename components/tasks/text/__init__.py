"""Text generation (``task: generate``): a character-level language model."""
