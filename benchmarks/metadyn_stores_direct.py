"""Development aid: write the demo's simulated Meta-dynamical-SSM session stores straight from the generators.

The pipeline writes them through simulate (NWB) → convert; this script skips NWB so the model rules can be
timed before (or independently of) the converter: `python benchmarks/metadyn_stores_direct.py [configfile ...]`.
"""

import sys
import time

from neurodyn import config as ndc
from neurodyn.data.families import family_sessions
from neurodyn.data.sources import SessionSources
from neurodyn.models.metadyn_data import session_from_recording
from neurodyn.store import write_session

files = sys.argv[1:] or ["config.yaml", "config/demo.yaml"]
config = ndc.load(*files)
sources = SessionSources(config)
t0 = time.time()
for name, spec in family_sessions(config).items():
    sim = spec["source"]["simulate"]
    module = __import__(f"neurodyn.simulate.{sim['generator'].replace('-', '_')}", fromlist=["simulate"])
    rec = module.simulate(dict(sim["params"], bin_ms=spec["bin_ms"]), sources.seed_for(name))
    rec.name = name
    write_session(session_from_recording(rec), f"results/sessions/{name}.zarr")
print(f"wrote {len(family_sessions(config))} stores in {time.time() - t0:.1f} s")
