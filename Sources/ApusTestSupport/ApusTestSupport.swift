// ApusTestSupport: see STYLE.md for what this target holds.
