//! Writing ISO 20022 documents: the envelope (declaration and `Document` in its message's
//! namespace) and the one-line elements every message is made of. The messages themselves are
//! in [`crate::payout`] (`pain.001`) and [`crate::statement`] (`camt.053`).

use crate::error::{Result, SettlementError};
use quick_xml::{
    events::{BytesDecl, BytesText, Event},
    Writer,
};

pub(crate) type XmlResult = std::result::Result<(), std::io::Error>;

/// `<tag>value</tag>`.
pub(crate) fn text<W: std::io::Write>(w: &mut Writer<W>, tag: &str, value: &str) -> XmlResult {
    w.create_element(tag)
        .write_text_content(BytesText::new(value))
        .map(|_| ())
}

/// A whole document of `message` (e.g. `pain.001.001.09`), indented, whose `Document` element
/// holds what `body` writes.
pub(crate) fn document(
    message: &str,
    body: impl FnOnce(&mut Writer<&mut Vec<u8>>) -> XmlResult,
) -> Result<String> {
    let mut out = Vec::new();
    let mut w = Writer::new_with_indent(&mut out, b' ', 2);
    let written = w
        .write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
        .and_then(|_| {
            w.create_element("Document")
                .with_attribute((
                    "xmlns",
                    format!("urn:iso:std:iso:20022:tech:xsd:{message}").as_str(),
                ))
                .write_inner_content(body)
                .map(|_| ())
        });
    written.map_err(|e| SettlementError::Invalid(format!("writing {message}: {e}")))?;
    String::from_utf8(out)
        .map_err(|e| SettlementError::Corrupt(format!("{message} is not UTF-8: {e}")))
}
