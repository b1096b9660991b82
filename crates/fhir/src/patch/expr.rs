//! The FHIRPath subset FHIRPath Patch paths need: a tokenizer and a recursive-descent parser.
//!
//! Supported: a leading type name or `$this`, member access, `[n]` indexers, and the functions
//! `first()`, `last()`, `ofType(T)` and `where(criteria)`, where criteria are comparisons
//! (`=` / `!=`) between relative paths and string, number or boolean literals, or bare relative
//! paths, joined by `and`. Everything else (operators, `resolve()`, ...) is refused as
//! unsupported rather than guessed at, so a patch never touches elements its author did not mean.

use serde_json::{Number, Value};

/// Longest path accepted; real patch paths are a few dozen characters.
const MAX_PATH_CHARS: usize = 2048;
/// Deepest nesting of `where()` accepted; keeps recursion bounded on hostile input.
const MAX_NESTING: usize = 8;

/// One navigation step, applied to every item of the current collection.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Step {
    Member(String),
    Index(usize),
    First,
    Last,
    Where(Criteria),
    OfType(String),
}

/// `where()` criteria: every term must hold (`and`).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Criteria {
    pub(super) terms: Vec<Term>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Term {
    /// A bare operand, true when it is a single `true` or a single non-boolean item.
    Truthy(Operand),
    Compare {
        left: Operand,
        equal: bool,
        right: Operand,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Operand {
    /// A path relative to the item being filtered (`$this` is the empty path).
    Path(Vec<Step>),
    Literal(Value),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Identifier(String),
    This,
    Text(String),
    Number(String),
    Dot,
    OpenBracket,
    CloseBracket,
    OpenParen,
    CloseParen,
    Equal,
    NotEqual,
}

/// Parses a patch path into its steps. Errors are short explanations without the path text.
pub(super) fn parse(text: &str) -> Result<Vec<Step>, String> {
    if text.chars().count() > MAX_PATH_CHARS {
        return Err("the path is too long".to_string());
    }
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        tokens,
        position: 0,
    };
    let steps = parser.path(0)?;
    match parser.peek() {
        None => Ok(steps),
        Some(token) => Err(format!("unexpected {} after the path", describe(token))),
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let (token, next) = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '.' => (Token::Dot, i + 1),
            '[' => (Token::OpenBracket, i + 1),
            ']' => (Token::CloseBracket, i + 1),
            '(' => (Token::OpenParen, i + 1),
            ')' => (Token::CloseParen, i + 1),
            '=' => (Token::Equal, i + 1),
            '!' if chars.get(i + 1) == Some(&'=') => (Token::NotEqual, i + 2),
            '\'' => quoted(&chars, i, '\'').map(|(s, n)| (Token::Text(s), n))?,
            '`' => quoted(&chars, i, '`').map(|(s, n)| (Token::Identifier(s), n))?,
            '$' => this(&chars, i)?,
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                number(&chars, i)
            }
            c if c.is_ascii_alphabetic() || c == '_' => identifier(&chars, i),
            _ => return Err(format!("unexpected character '{c}'")),
        };
        tokens.push(token);
        i = next;
    }
    Ok(tokens)
}

fn identifier(chars: &[char], start: usize) -> (Token, usize) {
    let end = scan(chars, start, |c| c.is_ascii_alphanumeric() || c == '_');
    (Token::Identifier(chars[start..end].iter().collect()), end)
}

fn number(chars: &[char], start: usize) -> (Token, usize) {
    let mut end = scan(chars, start + 1, |c| c.is_ascii_digit());
    if chars.get(end) == Some(&'.') && chars.get(end + 1).is_some_and(char::is_ascii_digit) {
        end = scan(chars, end + 1, |c| c.is_ascii_digit());
    }
    (Token::Number(chars[start..end].iter().collect()), end)
}

fn this(chars: &[char], start: usize) -> Result<(Token, usize), String> {
    let end = scan(chars, start + 1, |c| c.is_ascii_alphanumeric() || c == '_');
    let name: String = chars[start..end].iter().collect();
    if name == "$this" {
        Ok((Token::This, end))
    } else {
        Err("only the $this variable is supported".to_string())
    }
}

/// Index just past the run of characters from `start` that satisfy `accept`.
fn scan(chars: &[char], start: usize, accept: impl Fn(char) -> bool) -> usize {
    let mut end = start;
    while chars.get(end).is_some_and(|&c| accept(c)) {
        end += 1;
    }
    end
}

/// Reads a `'string'` or `` `identifier` `` with FHIRPath escapes; returns the text and the index
/// after the closing delimiter.
fn quoted(chars: &[char], start: usize, delimiter: char) -> Result<(String, usize), String> {
    let mut out = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None => return Err("unterminated string".to_string()),
            Some(&c) if c == delimiter => return Ok((out, i + 1)),
            Some('\\') => {
                let (decoded, next) = escape(chars, i + 1)?;
                out.push(decoded);
                i = next;
            }
            Some(&c) => {
                out.push(c);
                i += 1;
            }
        }
    }
}

fn escape(chars: &[char], at: usize) -> Result<(char, usize), String> {
    let simple = match chars.get(at) {
        Some('\'') => '\'',
        Some('"') => '"',
        Some('`') => '`',
        Some('\\') => '\\',
        Some('/') => '/',
        Some('f') => '\u{c}',
        Some('n') => '\n',
        Some('r') => '\r',
        Some('t') => '\t',
        Some('u') => return unicode_escape(chars, at + 1),
        _ => return Err("invalid escape in string".to_string()),
    };
    Ok((simple, at + 1))
}

fn unicode_escape(chars: &[char], start: usize) -> Result<(char, usize), String> {
    let hex: String = chars
        .get(start..start + 4)
        .ok_or("invalid \\u escape")?
        .iter()
        .collect();
    let code = u32::from_str_radix(&hex, 16).map_err(|_| "invalid \\u escape")?;
    let decoded = char::from_u32(code).ok_or("invalid \\u escape")?;
    Ok((decoded, start + 4))
}

fn describe(token: &Token) -> String {
    match token {
        Token::Identifier(_) => "a name".to_string(),
        Token::This => "$this".to_string(),
        Token::Text(_) => "a string".to_string(),
        Token::Number(_) => "a number".to_string(),
        Token::Dot => "'.'".to_string(),
        Token::OpenBracket => "'['".to_string(),
        Token::CloseBracket => "']'".to_string(),
        Token::OpenParen => "'('".to_string(),
        Token::CloseParen => "')'".to_string(),
        Token::Equal => "'='".to_string(),
        Token::NotEqual => "'!='".to_string(),
    }
}

struct Parser {
    tokens: Vec<Token>,
    position: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.position).cloned();
        self.position += 1;
        token
    }

    fn expect(&mut self, wanted: Token) -> Result<(), String> {
        match self.next() {
            Some(token) if token == wanted => Ok(()),
            Some(token) => Err(format!(
                "expected {} but found {}",
                describe(&wanted),
                describe(&token)
            )),
            None => Err(format!("expected {} but the path ended", describe(&wanted))),
        }
    }

    /// `($this | invocation) ('.' invocation | '[' number ']')*`
    fn path(&mut self, depth: usize) -> Result<Vec<Step>, String> {
        let mut steps = Vec::new();
        match self.peek() {
            Some(Token::This) => self.position += 1,
            Some(Token::Identifier(_)) => steps.push(self.invocation(depth)?),
            Some(token) => return Err(format!("expected a name but found {}", describe(token))),
            None => return Err("the path is empty".to_string()),
        }
        loop {
            match self.peek() {
                Some(Token::Dot) => {
                    self.position += 1;
                    steps.push(self.invocation(depth)?);
                }
                Some(Token::OpenBracket) => {
                    self.position += 1;
                    steps.push(Step::Index(self.index()?));
                    self.expect(Token::CloseBracket)?;
                }
                _ => return Ok(steps),
            }
        }
    }

    fn index(&mut self) -> Result<usize, String> {
        match self.next() {
            Some(Token::Number(digits)) => digits
                .parse()
                .map_err(|_| "an index must be a whole number from 0".to_string()),
            _ => Err("an index must be a whole number from 0".to_string()),
        }
    }

    /// A member name, or a function call when followed by `(`.
    fn invocation(&mut self, depth: usize) -> Result<Step, String> {
        let name = match self.next() {
            Some(Token::Identifier(name)) => name,
            Some(token) => return Err(format!("expected a name but found {}", describe(&token))),
            None => return Err("the path ends with '.'".to_string()),
        };
        if self.peek() != Some(&Token::OpenParen) {
            return Ok(Step::Member(name));
        }
        self.position += 1;
        let step = match name.as_str() {
            "first" => Step::First,
            "last" => Step::Last,
            "ofType" => Step::OfType(self.type_name()?),
            "where" => Step::Where(self.criteria(depth + 1)?),
            _ => {
                return Err(format!(
                    "the function {}() is not supported",
                    super::clip(&name)
                ));
            }
        };
        self.expect(Token::CloseParen)?;
        Ok(step)
    }

    /// A possibly qualified type name (`Reference`, `FHIR.string`); the namespace is dropped.
    fn type_name(&mut self) -> Result<String, String> {
        let mut name = match self.next() {
            Some(Token::Identifier(name)) => name,
            _ => return Err("ofType() needs a type name".to_string()),
        };
        while self.peek() == Some(&Token::Dot) {
            self.position += 1;
            match self.next() {
                Some(Token::Identifier(part)) => name = part,
                _ => return Err("ofType() needs a type name".to_string()),
            }
        }
        Ok(name)
    }

    /// `term ('and' term)*`
    fn criteria(&mut self, depth: usize) -> Result<Criteria, String> {
        if depth > MAX_NESTING {
            return Err("where() is nested too deeply".to_string());
        }
        let mut terms = vec![self.term(depth)?];
        while matches!(self.peek(), Some(Token::Identifier(word)) if word == "and") {
            self.position += 1;
            terms.push(self.term(depth)?);
        }
        Ok(Criteria { terms })
    }

    /// `operand (('=' | '!=') operand)?`
    fn term(&mut self, depth: usize) -> Result<Term, String> {
        let left = self.operand(depth)?;
        let equal = match self.peek() {
            Some(Token::Equal) => true,
            Some(Token::NotEqual) => false,
            _ => return Ok(Term::Truthy(left)),
        };
        self.position += 1;
        let right = self.operand(depth)?;
        Ok(Term::Compare { left, equal, right })
    }

    fn operand(&mut self, depth: usize) -> Result<Operand, String> {
        let literal = match self.peek() {
            Some(Token::Text(text)) => Value::String(text.clone()),
            Some(Token::Number(digits)) => Value::Number(
                digits
                    .parse::<Number>()
                    .map_err(|_| "invalid number".to_string())?,
            ),
            Some(Token::Identifier(word)) if word == "true" || word == "false" => {
                Value::Bool(word == "true")
            }
            Some(Token::Identifier(word)) if word == "and" => {
                return Err("expected a comparison before 'and'".to_string());
            }
            Some(Token::Identifier(_) | Token::This) => {
                return Ok(Operand::Path(self.path(depth)?));
            }
            Some(token) => {
                return Err(format!(
                    "expected a path or a literal but found {}",
                    describe(token)
                ));
            }
            None => return Err("where() criteria are incomplete".to_string()),
        };
        self.position += 1;
        Ok(Operand::Literal(literal))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn member(name: &str) -> Step {
        Step::Member(name.to_string())
    }

    #[test]
    fn parses_member_paths_with_indexers_and_functions() {
        assert_eq!(
            parse("Appointment.start").unwrap(),
            vec![member("Appointment"), member("start")]
        );
        assert_eq!(
            parse(" Appointment . slot [ 0 ] . reference ").unwrap(),
            vec![
                member("Appointment"),
                member("slot"),
                Step::Index(0),
                member("reference")
            ]
        );
        assert_eq!(
            parse("Appointment.participant.first().actor").unwrap(),
            vec![
                member("Appointment"),
                member("participant"),
                Step::First,
                member("actor")
            ]
        );
        assert_eq!(
            parse("Appointment.slot.last()").unwrap(),
            vec![member("Appointment"), member("slot"), Step::Last]
        );
        assert_eq!(parse("$this.status").unwrap(), vec![member("status")]);
        assert_eq!(
            parse("extension.value.ofType(FHIR.string)").unwrap(),
            vec![
                member("extension"),
                member("value"),
                Step::OfType("string".to_string())
            ]
        );
        assert_eq!(parse("`div`").unwrap(), vec![member("div")]);
    }

    #[test]
    fn parses_where_criteria() {
        let steps = parse("Appointment.participant.where(actor.reference = 'Practitioner/1' and status != 'declined' and required)").unwrap();
        let Step::Where(criteria) = &steps[2] else {
            panic!("{steps:?}")
        };
        assert_eq!(
            criteria.terms,
            vec![
                Term::Compare {
                    left: Operand::Path(vec![member("actor"), member("reference")]),
                    equal: true,
                    right: Operand::Literal(json!("Practitioner/1"))
                },
                Term::Compare {
                    left: Operand::Path(vec![member("status")]),
                    equal: false,
                    right: Operand::Literal(json!("declined"))
                },
                Term::Truthy(Operand::Path(vec![member("required")])),
            ]
        );
        let steps = parse("x.where($this = 1.50 and y = true and z = -2)").unwrap();
        let Step::Where(criteria) = &steps[1] else {
            panic!("{steps:?}")
        };
        assert_eq!(criteria.terms.len(), 3);
        assert_eq!(
            parse(r"a.where(b = 'it\'s \u00e9')").unwrap()[1],
            Step::Where(Criteria {
                terms: vec![Term::Compare {
                    left: Operand::Path(vec![member("b")]),
                    equal: true,
                    right: Operand::Literal(json!("it's é"))
                }]
            })
        );
    }

    #[test]
    fn rejects_what_it_does_not_understand() {
        for bad in [
            "",
            "   ",
            ".start",
            "Appointment.",
            "Appointment..start",
            "Appointment.start.",
            "Appointment[",
            "Appointment[x]",
            "Appointment[-1]",
            "Appointment[1.5]",
            "Appointment[99999999999999999999999999]",
            "Appointment.slot.resolve()",
            "Appointment.where(",
            "Appointment.where()",
            "Appointment.where(a = )",
            "Appointment.where(a = 'x' and)",
            "Appointment.where(a = 'x'",
            "Appointment.where(a = 'x",
            "Appointment.first(1)",
            "Appointment.ofType()",
            "Appointment | Patient",
            "Appointment.start + 1",
            "%resource.start",
            "$that.start",
            "Appointment.where(a = 'x') extra",
            r"a.where(b = '\q')",
            r"a.where(b = '\u12')",
            "'literal'",
            "1",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let deep = format!("a{}", ".where(b".repeat(20)) + &")".repeat(20);
        assert!(parse(&deep).is_err());
        assert!(parse(&"a.".repeat(2000)).is_err());
    }
}
