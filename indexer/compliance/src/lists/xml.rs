//! A small pull reader over quick-xml for the list formats: elements by local name (the
//! published files use default namespaces, and a parser must not depend on prefixes), their
//! attributes decoded, text with its entity references resolved, errors with their byte
//! offset.

use crate::ComplianceError;
use quick_xml::{
    escape::resolve_predefined_entity,
    events::{BytesStart, Event},
    Reader,
};

pub(super) enum Node {
    Start {
        name: String,
        attrs: Vec<(String, String)>,
    },
    End(String),
    Text(String),
    Eof,
}

pub(super) struct Xml<'a> {
    reader: Reader<&'a [u8]>,
    format: &'static str,
}

impl<'a> Xml<'a> {
    pub fn new(bytes: &'a [u8], format: &'static str) -> Self {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let mut reader = Reader::from_reader(bytes);
        let config = reader.config_mut();
        config.expand_empty_elements = true;
        config.check_end_names = true;
        Self { reader, format }
    }

    pub fn error(&self, detail: impl std::fmt::Display) -> ComplianceError {
        ComplianceError::list(
            self.format,
            format!("at byte {}: {detail}", self.reader.buffer_position()),
        )
    }

    fn start(&self, e: &BytesStart<'_>) -> Result<Node, ComplianceError> {
        let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
        let mut attrs = Vec::new();
        for a in e.attributes() {
            let a = a.map_err(|err| self.error(err))?;
            let key = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
            let value = a.unescape_value().map_err(|err| self.error(err))?;
            attrs.push((key, value.trim().to_string()));
        }
        Ok(Node::Start { name, attrs })
    }

    pub fn next(&mut self) -> Result<Node, ComplianceError> {
        loop {
            let event = self.reader.read_event().map_err(|e| self.error(e))?;
            return match event {
                Event::Start(e) => self.start(&e),
                Event::End(e) => Ok(Node::End(
                    String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                )),
                Event::Text(t) => Ok(Node::Text(
                    t.decode().map_err(|e| self.error(e))?.into_owned(),
                )),
                Event::CData(t) => Ok(Node::Text(
                    t.decode().map_err(|e| self.error(e))?.into_owned(),
                )),
                Event::GeneralRef(r) => {
                    let s = match r.resolve_char_ref().map_err(|e| self.error(e))? {
                        Some(c) => c.to_string(),
                        None => {
                            let name = r.decode().map_err(|e| self.error(e))?;
                            resolve_predefined_entity(&name)
                                .ok_or_else(|| self.error(format!("unknown entity &{name};")))?
                                .to_string()
                        }
                    };
                    Ok(Node::Text(s))
                }
                Event::Eof => Ok(Node::Eof),
                _ => continue,
            };
        }
    }

    /// The text inside the element just started, up to its end (nested elements' text
    /// included).
    pub fn text(&mut self) -> Result<String, ComplianceError> {
        let mut depth = 1;
        let mut out = String::new();
        while depth > 0 {
            match self.next()? {
                Node::Start { .. } => depth += 1,
                Node::End(_) => depth -= 1,
                Node::Text(t) => out.push_str(&t),
                Node::Eof => return Err(self.error("the file ends inside an element")),
            }
        }
        Ok(out.trim().to_string())
    }
}

/// The value of attribute `key`, if present and not empty.
pub(super) fn attr<'v>(attrs: &'v [(String, String)], key: &str) -> Option<&'v str> {
    attrs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// A subtree read whole (for the list formats' records, each small).
#[derive(Debug, Default)]
pub(super) struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn attr(&self, key: &str) -> Option<&str> {
        attr(&self.attrs, key)
    }

    pub fn children<'s, 'n>(
        &'s self,
        name: &'n str,
    ) -> impl Iterator<Item = &'s Element> + use<'s, 'n> {
        self.children.iter().filter(move |c| c.name == name)
    }

    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every element named `name` below this one, in document order.
    pub fn descendants<'s>(&'s self, name: &str, out: &mut Vec<&'s Element>) {
        for c in &self.children {
            if c.name == name {
                out.push(c);
            }
            c.descendants(name, out);
        }
    }
}

impl Xml<'_> {
    /// The rest of the element just started (`name`, `attrs`), read into an [`Element`].
    pub fn element(
        &mut self,
        name: String,
        attrs: Vec<(String, String)>,
    ) -> Result<Element, ComplianceError> {
        let mut stack = vec![Element {
            name,
            attrs,
            ..Default::default()
        }];
        loop {
            match self.next()? {
                Node::Start { name, attrs } => stack.push(Element {
                    name,
                    attrs,
                    ..Default::default()
                }),
                Node::Text(t) => {
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&t);
                    }
                }
                Node::End(_) => {
                    let mut done = stack.pop().unwrap_or_default();
                    done.text = done.text.trim().to_string();
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(done),
                        None => return Ok(done),
                    }
                }
                Node::Eof => return Err(self.error("the file ends inside an element")),
            }
        }
    }
}
