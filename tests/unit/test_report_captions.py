"""Every report() output in the workflow names a caption file that exists and says something (fast, static)."""

from __future__ import annotations

import re
from pathlib import Path

RULES = Path(__file__).resolve().parents[2] / "workflow" / "rules"


def report_calls(text: str) -> list[str]:
    """The argument text of every ``report(...)`` call (balanced parentheses)."""
    calls = []
    for match in re.finditer(r"\breport\(", text):
        depth, i = 1, match.end()
        while depth and i < len(text):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        calls.append(text[match.end() : i - 1])
    return calls


def test_every_report_output_has_an_existing_caption():
    checked = 0
    for smk in sorted(RULES.glob("*.smk")):
        for args in report_calls(smk.read_text()):
            caption = re.search(r"caption\s*=\s*[\"']([^\"']+)[\"']", args)
            assert caption, f"{smk.name}: report({args.strip()[:60]}...) has no caption="
            path = (smk.parent / caption.group(1)).resolve()  # Snakemake resolves it beside the rule file
            assert path.is_file() and path.read_text().strip(), f"{smk.name}: caption {caption.group(1)} missing or empty"
            checked += 1
    assert checked, "no report() output found in workflow/rules"
