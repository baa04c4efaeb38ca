//! Health monitoring (issue #5).
