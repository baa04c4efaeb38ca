//! The `expected_codes` of an HTTP/HTTPS health monitor: single codes, lists
//! and ranges (`200`, `200,202`, `200-204`, `200, 301-302`).
//!
//! Pure parsing and matching, in `model` because two parts need it: the API
//! calls [`parse_expected_codes`] to validate input, the health prober to
//! judge a response.

use std::fmt;

/// Lowest and highest HTTP status code a monitor may expect.
const MIN_CODE: u16 = 100;
const MAX_CODE: u16 = 599;

/// A parsed `expected_codes` value: inclusive ranges of HTTP status codes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedCodes {
    ranges: Vec<(u16, u16)>,
}

impl ExpectedCodes {
    /// Whether `status` is one of the expected codes.
    pub fn contains(&self, status: u16) -> bool {
        self.ranges
            .iter()
            .any(|(low, high)| (*low..=*high).contains(&status))
    }
}

impl Default for ExpectedCodes {
    /// Octavia's default: `200`.
    fn default() -> Self {
        Self {
            ranges: vec![(200, 200)],
        }
    }
}

impl fmt::Display for ExpectedCodes {
    /// The canonical text: items joined by `,`, no spaces (`200,202-204`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (low, high)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if low == high {
                write!(f, "{low}")?;
            } else {
                write!(f, "{low}-{high}")?;
            }
        }
        Ok(())
    }
}

/// Parse `expected_codes`: comma-separated items, each a code (`200`) or an
/// inclusive range (`200-204`), codes 100..=599, whitespace around items and
/// dashes ignored. The error says what is wrong, ready for an API fault
/// (the caller prefixes the field name).
pub fn parse_expected_codes(text: &str) -> Result<ExpectedCodes, String> {
    if text.trim().is_empty() {
        return Err("must list at least one HTTP status code, e.g. 200 or 200-204".into());
    }
    let mut ranges = Vec::new();
    for item in text.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(format!("empty item in {text:?}"));
        }
        let range = match item.split_once('-') {
            Some((low, high)) => {
                let (low, high) = (parse_code(low)?, parse_code(high)?);
                if low > high {
                    return Err(format!("range {item:?} runs backwards"));
                }
                (low, high)
            }
            None => {
                let code = parse_code(item)?;
                (code, code)
            }
        };
        ranges.push(range);
    }
    Ok(ExpectedCodes { ranges })
}

fn parse_code(text: &str) -> Result<u16, String> {
    let text = text.trim();
    // Digits only: `u16::from_str` would also accept a leading `+`.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{text:?} is not an HTTP status code"));
    }
    match text.parse::<u16>() {
        Ok(code) if (MIN_CODE..=MAX_CODE).contains(&code) => Ok(code),
        _ => Err(format!(
            "{text} is outside the HTTP status codes {MIN_CODE}-{MAX_CODE}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_code_list_and_range_are_accepted() {
        let one = parse_expected_codes("200").unwrap();
        assert!(one.contains(200));
        assert!(!one.contains(201));

        let list = parse_expected_codes("200,202").unwrap();
        assert!(list.contains(200) && list.contains(202));
        assert!(!list.contains(201));

        let range = parse_expected_codes("200-204").unwrap();
        assert!((200..=204).all(|c| range.contains(c)));
        assert!(!range.contains(199) && !range.contains(205));
    }

    #[test]
    fn mixtures_and_whitespace_are_tolerated_and_print_canonically() {
        let codes = parse_expected_codes(" 200 , 301 - 302,404 ").unwrap();
        assert!(codes.contains(200) && codes.contains(301) && codes.contains(302));
        assert!(codes.contains(404));
        assert!(!codes.contains(303));
        assert_eq!(codes.to_string(), "200,301-302,404");
    }

    #[test]
    fn bad_input_is_rejected_with_a_reason() {
        for bad in [
            "",
            " ",
            "abc",
            "200,",
            ",200",
            "200-",
            "-200",
            "204-200",
            "99",
            "600",
            "+200",
            "200-204-206",
            "2OO",
            "70000",
        ] {
            let err = parse_expected_codes(bad).expect_err(bad);
            assert!(!err.is_empty(), "{bad:?} gave an empty reason");
        }
        assert_eq!(
            parse_expected_codes("204-200").unwrap_err(),
            "range \"204-200\" runs backwards"
        );
    }

    #[test]
    fn default_expects_200_only() {
        let codes = ExpectedCodes::default();
        assert!(codes.contains(200));
        assert!(!codes.contains(204));
        assert_eq!(codes.to_string(), "200");
    }
}
