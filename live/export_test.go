package live

// CheckpointSlice is how many answers one checkpoint transaction writes.
const CheckpointSlice = checkpointSlice
