"""The click command line: one module per noun; each command parses, calls one API function, renders."""
