"""Synthetic benches in the VAU-Bench CSV schema, for tests, demos and experiments (not for measuring models).

- `scene`: `ClipSpec` (size and timing of a bench's clips), fixed-camera backgrounds and raster drawing.
- `events`: the event simulators (`EVENT_KINDS`, `render_clip`): one event in a known frame range per clip.
- `text`: annotation text several benches share (pedestrians, directions, the timing question's windows).
- `writer`: the one bench writer (`write_bench`: output folder check, clips, CSVs, README, manifest) and
  `BenchSummary`, what every bench returns.
- `mini`: the mini bench (shipped in the wheel: `bundled_mini_bench()`), full VAU-R1-style annotations.
- `motion`: timing / event-kind questions whose answers depend on motion (issue 7).
- `order`: a square that moves, stays or starts late; the answers need the order of the frames.
- `colour`: two-frame red or blue clips; does training (and evaluation) use the video at all?

Each is also a `vau-plugin make-*-bench` command.
"""
