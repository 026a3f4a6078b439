"""Tables, charts and the markdown report. The only package importing pandas/matplotlib."""
