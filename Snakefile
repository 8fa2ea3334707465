# neurodyn: DANDI -> NWB -> zarr -> models -> figures, tables and a scorecard. See README.md.
# Rules are thin: each calls the `neurodyn` CLI; the logic lives in src/neurodyn and is tested without Snakemake.
import sys

from neurodyn import config as ndc
from neurodyn.data.sources import SessionSources
from neurodyn.errors import InputError

# Everything a config or lock file holds is checked before any job is planned, each problem one line:
# config.yaml by neurodyn's strict reader (YAML syntax with line and column, duplicate keys, no YTE template)
# before Snakemake loads it; the --configfile overlays, which Snakemake has parsed already, re-read the same way;
# then the merged config against the schema, and the lock file (neurodyn.data.lock.read_lock) by SessionSources.
try:
    for _file in ["config.yaml", *workflow.config_settings.configfiles]:
        ndc.read_config_file(_file)
except InputError as err:
    sys.exit(f"neurodyn: config error: {err.line()}")

configfile: "config.yaml"

try:
    ndc.validate(config, where="config (config.yaml + overlays)")
    ndc.check_references(config, where="config (config.yaml + overlays)")
    SOURCES = SessionSources(config)
except InputError as err:
    sys.exit(f"neurodyn: config error: {err.line()}")

# Each rule file appends what `rule all` builds to TARGETS.
TARGETS = []

include: "workflow/rules/common.smk"
include: "workflow/rules/plans.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/erdiff.smk"
include: "workflow/rules/metadyn.smk"
include: "workflow/rules/dcf.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        TARGETS,
    default_target: True
