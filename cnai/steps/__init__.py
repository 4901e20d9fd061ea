"""The plain-Python work behind each component (TFX's executors): paths in, paths out, tested alone."""
