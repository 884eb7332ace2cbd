//! Root-only lab tests.
