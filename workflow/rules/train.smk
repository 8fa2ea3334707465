# Train stage. Each paper keeps its rules in its own block below.

# === ERDiff ===


# === Meta-dynamical SSM ===


# === DCF ===

