"""Oh My Coins desk: the keyboard-driven terminal trading UI."""

import os

# Textual batches repaints into frames of 1/TEXTUAL_FPS seconds (60 by default), so a quote
# can wait a whole frame before it is painted. Frames are only drawn when something changed,
# and only the changed rows, so a higher cap costs little: measured with 200 symbols at 10
# updates/s each, 240 keeps tick-to-screen p99 near 11 ms at ~40% of one core, where 60 gives
# ~20 ms (tests/bench/tick_latency.py). A user's own TEXTUAL_FPS wins.
os.environ.setdefault("TEXTUAL_FPS", "240")
