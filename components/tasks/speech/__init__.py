"""Speech recognition (``task: asr``): audio clips, features, CTC decoding."""
