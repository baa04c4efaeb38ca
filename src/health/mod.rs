//! Health monitoring: probes members, counts rise/fall, steers the data plane
//! through the shared member states and rolls statuses up (issue #5).

pub mod expected_codes;
pub mod rollup;

pub use expected_codes::{ExpectedCodes, parse_expected_codes};
