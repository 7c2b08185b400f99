//! Which chain to use: `embedded`, `embedded:PATH` or an `http(s)://` node URL.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::ChainError;

/// Which chain a registry lives on.
#[derive(Clone, PartialEq, Eq)]
pub enum ChainSpec {
    /// The embedded chain in a SQLite file; `None` = the default per-user file
    /// (`~/.local/share/chainmail/chain.db`).
    Embedded(Option<PathBuf>),
    /// A JSON-RPC node (`http://` or `https://`).
    Rpc(String),
}

impl FromStr for ChainSpec {
    type Err = ChainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "embedded" {
            return Ok(ChainSpec::Embedded(None));
        }
        if let Some(path) = s.strip_prefix("embedded:") {
            if path.is_empty() {
                return Err(ChainError::InvalidArgument(
                    "embedded: needs a file path after the colon".into(),
                ));
            }
            return Ok(ChainSpec::Embedded(Some(PathBuf::from(path))));
        }
        if s.starts_with("http://") || s.starts_with("https://") {
            return Ok(ChainSpec::Rpc(s.to_string()));
        }
        Err(ChainError::InvalidArgument(format!(
            "unknown chain {s:?}: use `embedded`, `embedded:PATH` or an http(s):// node URL"
        )))
    }
}

impl fmt::Display for ChainSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainSpec::Embedded(None) => f.write_str("embedded"),
            ChainSpec::Embedded(Some(p)) => write!(f, "embedded:{}", p.display()),
            // The URL may carry an API key: show scheme and host only.
            ChainSpec::Rpc(url) => {
                let rest = url.split("://").nth(1).unwrap_or("");
                let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
                let host = authority.rsplit('@').next().unwrap_or("");
                let scheme = url.split("://").next().unwrap_or("http");
                write!(f, "{scheme}://{host}/…")
            }
        }
    }
}

impl fmt::Debug for ChainSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainSpec({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms_and_refuses_others() {
        assert_eq!(
            "embedded".parse::<ChainSpec>().unwrap(),
            ChainSpec::Embedded(None)
        );
        assert_eq!(
            "embedded:/tmp/x.db".parse::<ChainSpec>().unwrap(),
            ChainSpec::Embedded(Some("/tmp/x.db".into()))
        );
        assert_eq!(
            "https://n.example/v3/k".parse::<ChainSpec>().unwrap(),
            ChainSpec::Rpc("https://n.example/v3/k".into())
        );
        for bad in ["", "embedded:", "ws://x", "ftp://x", "Embedded", "http:/x"] {
            assert!(bad.parse::<ChainSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn display_hides_url_path_and_credentials() {
        let s: ChainSpec = "https://user:pw@n.example/v3/secretkey".parse().unwrap();
        let shown = s.to_string();
        assert!(
            !shown.contains("secretkey") && !shown.contains("pw"),
            "{shown}"
        );
    }
}
