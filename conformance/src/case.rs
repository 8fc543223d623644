//! A conformance case: what is sent, what the RFC expects, and the script
//! that sends it and judges the answer.

use std::fmt;
use std::time::Duration;

use crate::session::{Check, Session};

/// The categories of the summary table, in its order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// Payload sizes and length forms, masking, chunked delivery.
    Framing,
    /// Pings, pongs and control frame sizes.
    Pings,
    /// RSV1-RSV3.
    ReservedBits,
    /// Reserved opcodes.
    Opcodes,
    /// Fragmented messages and the continuation rules.
    Fragmentation,
    /// UTF-8 validation of text messages.
    Utf8,
    /// The closing handshake and close frame contents.
    Close,
    /// Large messages and the configured size limit.
    Limits,
}

impl Category {
    /// Every category, in table order.
    pub const ALL: [Category; 8] = [
        Category::Framing,
        Category::Pings,
        Category::ReservedBits,
        Category::Opcodes,
        Category::Fragmentation,
        Category::Utf8,
        Category::Close,
        Category::Limits,
    ];

    /// The name used in case ids and the table.
    pub fn name(self) -> &'static str {
        match self {
            Category::Framing => "framing",
            Category::Pings => "pings",
            Category::ReservedBits => "rsv",
            Category::Opcodes => "opcodes",
            Category::Fragmentation => "fragmentation",
            Category::Utf8 => "utf8",
            Category::Close => "close",
            Category::Limits => "limits",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

type Body = Box<dyn Fn(&mut Session) -> Check + Send + Sync>;

/// One case. Its script runs on a fresh connection.
///
/// ```
/// use rs_conformance::{Case, Category, Frame};
///
/// let case = Case::new(
///     "framing.example",
///     Category::Framing,
///     "a 5-byte text message",
///     "the message echoed",
///     |s| {
///         s.send(&[Frame::text("Hello")])?;
///         s.expect_message(true, b"Hello")?;
///         s.close_normally()
///     },
/// );
/// assert_eq!(case.id, "framing.example");
/// ```
pub struct Case {
    /// A stable id: `<category>.<what>.<variant>`.
    pub id: String,
    /// Its row in the table.
    pub category: Category,
    /// What is sent.
    pub title: String,
    /// What the RFC expects back, with the section.
    pub expectation: String,
    /// Overrides the run's per-case timeout (large messages).
    pub timeout: Option<Duration>,
    /// Heavy cases (large messages) run one at a time after the others.
    pub heavy: bool,
    body: Body,
}

impl Case {
    /// A case with the run's default timeout.
    pub fn new(
        id: impl Into<String>,
        category: Category,
        title: impl Into<String>,
        expectation: impl Into<String>,
        body: impl Fn(&mut Session) -> Check + Send + Sync + 'static,
    ) -> Self {
        Self {
            id: id.into(),
            category,
            title: title.into(),
            expectation: expectation.into(),
            timeout: None,
            heavy: false,
            body: Box::new(body),
        }
    }

    /// Marks the case heavy, with its own timeout.
    pub fn heavy(mut self, timeout: Duration) -> Self {
        self.heavy = true;
        self.timeout = Some(timeout);
        self
    }

    /// Runs the script on a connected session.
    pub fn run(&self, session: &mut Session) -> Check {
        (self.body)(session)
    }
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Case")
            .field("id", &self.id)
            .field("category", &self.category)
            .field("title", &self.title)
            .finish_non_exhaustive()
    }
}
