"""The rows, one module per group; each function takes the Bench and appends its rows."""
