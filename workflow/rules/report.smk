# Report stage: the scorecard (published numbers beside ours) — extended by each paper's rule file.


# === ERDiff ===


# === Meta-dynamical SSM ===


# === DCF ===

