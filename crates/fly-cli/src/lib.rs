//! Real-world adapters (filled by the fly-cli issue).
