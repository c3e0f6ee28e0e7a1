//! The string form of a label selector (`?labelSelector=`), tokenized and
//! parsed the way Kubernetes' `labels.Parse` does.

use super::SelectorError;
use super::label::{Operator, Requirement};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    /// `=`
    Eq,
    /// `==`
    DoubleEq,
    /// `!=`
    NotEq,
    /// `!`
    Not,
    In,
    NotIn,
    Gt,
    Lt,
    Open,
    Close,
    Comma,
    End,
}

impl Token {
    /// How the token reads in an error message.
    fn literal(&self) -> String {
        match self {
            Token::Ident(s) => s.clone(),
            Token::Eq => "=".into(),
            Token::DoubleEq => "==".into(),
            Token::NotEq => "!=".into(),
            Token::Not => "!".into(),
            Token::In => "in".into(),
            Token::NotIn => "notin".into(),
            Token::Gt => ">".into(),
            Token::Lt => "<".into(),
            Token::Open => "(".into(),
            Token::Close => ")".into(),
            Token::Comma => ",".into(),
            Token::End => String::new(),
        }
    }

    /// Keywords are allowed where a value is expected (`a=in`).
    fn as_value(&self) -> Option<String> {
        match self {
            Token::Ident(s) => Some(s.clone()),
            Token::In => Some("in".into()),
            Token::NotIn => Some("notin".into()),
            _ => None,
        }
    }
}

fn is_special(c: char) -> bool {
    matches!(c, '!' | '=' | '(' | ')' | ',' | '>' | '<')
}

fn tokenize(s: &str) -> Vec<Token> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let next = chars.get(i + 1).copied();
        let (tok, len) = match (c, next) {
            ('!', Some('=')) => (Token::NotEq, 2),
            ('!', _) => (Token::Not, 1),
            ('=', Some('=')) => (Token::DoubleEq, 2),
            ('=', _) => (Token::Eq, 1),
            ('(', _) => (Token::Open, 1),
            (')', _) => (Token::Close, 1),
            (',', _) => (Token::Comma, 1),
            ('>', _) => (Token::Gt, 1),
            ('<', _) => (Token::Lt, 1),
            _ => {
                let start = i;
                let mut end = i;
                while end < chars.len() && !chars[end].is_whitespace() && !is_special(chars[end]) {
                    end += 1;
                }
                let word: String = chars[start..end].iter().collect();
                let tok = match word.as_str() {
                    "in" => Token::In,
                    "notin" => Token::NotIn,
                    _ => Token::Ident(word),
                };
                (tok, end - start)
            }
        };
        out.push(tok);
        i += len;
    }
    out.push(Token::End);
    out
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

fn unexpected(found: &Token, expected: &str) -> SelectorError {
    SelectorError::new(format!(
        "unable to parse requirement: found '{}', expected: {expected}",
        found.literal()
    ))
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.pos]
    }

    fn next(&mut self) -> Token {
        let t = self.tokens[self.pos].clone();
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        t
    }

    fn at_term_end(&self) -> bool {
        matches!(self.peek(), Token::Comma | Token::End)
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        let first = self.next();
        let (key, negated) = match first {
            Token::Not => match self.next() {
                Token::Ident(k) => (k, true),
                other => return Err(unexpected(&other, "identifier")),
            },
            Token::Ident(k) => (k, false),
            other => return Err(unexpected(&other, "'!', identifier")),
        };
        let build = |op, values| {
            Requirement::new(&key, op, values).map_err(|e| {
                SelectorError::new(format!("unable to parse requirement: {}", e.message))
            })
        };
        if negated {
            if !self.at_term_end() {
                return Err(unexpected(self.peek(), "',' or end of string"));
            }
            return build(Operator::DoesNotExist, Vec::new());
        }
        if self.at_term_end() {
            return build(Operator::Exists, Vec::new());
        }
        let op = match self.next() {
            Token::Eq | Token::DoubleEq => Operator::Equals,
            Token::NotEq => Operator::NotEquals,
            Token::In => Operator::In,
            Token::NotIn => Operator::NotIn,
            Token::Gt => Operator::GreaterThan,
            Token::Lt => Operator::LessThan,
            other => {
                return Err(unexpected(
                    &other,
                    "'=', '!=', '==', 'in', 'notin', '>', '<'",
                ));
            }
        };
        let values = match op {
            Operator::In | Operator::NotIn => self.value_set()?,
            _ => vec![self.exact_value(op)?],
        };
        build(op, values)
    }

    /// The value after `=`, `==`, `!=`, `>`, `<`; empty when the term ends.
    fn exact_value(&mut self, op: Operator) -> Result<String, SelectorError> {
        let numeric = matches!(op, Operator::GreaterThan | Operator::LessThan);
        if self.at_term_end() && !numeric {
            return Ok(String::new());
        }
        let tok = self.next();
        tok.as_value().ok_or_else(|| unexpected(&tok, "identifier"))
    }

    /// `( v1, v2, ... )`; a missing value between commas is the empty string.
    fn value_set(&mut self) -> Result<Vec<String>, SelectorError> {
        let open = self.next();
        if open != Token::Open {
            return Err(unexpected(&open, "'('"));
        }
        let mut values = Vec::new();
        let mut expect_value = true;
        let mut saw_comma = false;
        loop {
            let tok = self.next();
            if let Some(v) = tok.as_value() {
                if !expect_value {
                    return Err(unexpected(&tok, "',' or ')'"));
                }
                values.push(v);
                expect_value = false;
                continue;
            }
            match tok {
                Token::Comma => {
                    if expect_value {
                        values.push(String::new());
                    }
                    expect_value = true;
                    saw_comma = true;
                }
                Token::Close => {
                    if expect_value && saw_comma {
                        values.push(String::new());
                    }
                    return Ok(values);
                }
                other => return Err(unexpected(&other, "',', ')' or identifier")),
            }
        }
    }
}

/// Parses a whole selector string into its requirements (unsorted).
pub(crate) fn parse(s: &str) -> Result<Vec<Requirement>, SelectorError> {
    let mut p = Parser {
        tokens: tokenize(s),
        pos: 0,
    };
    let mut reqs = Vec::new();
    if *p.peek() == Token::End {
        return Ok(reqs);
    }
    loop {
        reqs.push(p.requirement()?);
        match p.next() {
            Token::End => return Ok(reqs),
            Token::Comma => {}
            other => return Err(unexpected(&other, "',' or end of string")),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::selector::{LabelSelector, Operator};

    fn canonical(s: &str) -> String {
        LabelSelector::parse(s).unwrap().to_string()
    }

    #[test]
    fn every_operator() {
        assert_eq!(canonical("a=b"), "a=b");
        assert_eq!(canonical("a==b"), "a=b");
        assert_eq!(canonical("a!=b"), "a!=b");
        assert_eq!(canonical("a in (y,x)"), "a in (x,y)");
        assert_eq!(canonical("a notin (x)"), "a notin (x)");
        assert_eq!(canonical("a"), "a");
        assert_eq!(canonical("!a"), "!a");
        assert_eq!(canonical("a>3"), "a>3");
        assert_eq!(canonical("a<3"), "a<3");
        assert_eq!(
            canonical("app.kubernetes.io/name=web"),
            "app.kubernetes.io/name=web"
        );
    }

    #[test]
    fn comma_joined_and_whitespace_tolerant() {
        assert_eq!(
            canonical("  tier in ( web , api ),app = nginx ,  !canary,env"),
            "app=nginx,!canary,env,tier in (api,web)"
        );
        let s = LabelSelector::parse("b=1,a!=2").unwrap();
        let ops: Vec<Operator> = s.requirements().iter().map(|r| r.operator).collect();
        assert_eq!(ops, vec![Operator::NotEquals, Operator::Equals]);
    }

    #[test]
    fn empty_values() {
        assert_eq!(canonical("a="), "a=");
        assert_eq!(canonical("a=,b"), "a=,b");
        assert_eq!(canonical("a in (x,)"), "a in (,x)");
    }

    #[test]
    fn empty_string_selects_everything() {
        assert!(LabelSelector::parse("").unwrap().is_empty());
        assert!(LabelSelector::parse("   ").unwrap().is_empty());
    }

    #[test]
    fn errors_are_clear() {
        let err = |s: &str| LabelSelector::parse(s).unwrap_err().message;
        assert_eq!(
            err("a=b,"),
            "unable to parse requirement: found '', expected: '!', identifier"
        );
        assert_eq!(
            err("a in x"),
            "unable to parse requirement: found 'x', expected: '('"
        );
        assert!(err("a in ()").contains("values set can't be empty"));
        assert!(err("a in (x").contains("found ''"));
        assert!(err("!a=b").contains("expected: ',' or end of string"));
        assert!(err("a b").contains("found 'b'"));
        assert!(err("a=b c").contains("found 'c'"));
        assert!(err("a b=c").contains("found 'b'"));
        assert!(err("a>x").contains("integer"));
        assert!(err("a>").contains("found ''"));
        assert!(err("a=b b").contains("found 'b'"));
        assert!(err("=b").contains("found '='"));
        assert!(err("a b=c").starts_with("unable to parse requirement"));
        assert!(err("-a=b").contains("invalid label key"));
        assert!(err("a=-b").contains("invalid label value"));
    }
}
