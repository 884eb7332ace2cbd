//! Skydive agent probes (work in progress).
