//! Unique-key registry (filled by the registry issue).
