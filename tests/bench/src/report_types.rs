//! The rows every benchmark section produces and the report and chart consume.

/// One measured row: values per column, and the kiln/wasmtime ratio the chart shows.
#[derive(Clone, Debug)]
pub struct Row {
    /// What was measured.
    pub name: String,
    /// Unit of the values.
    pub unit: &'static str,
    /// Column name → median value (`None`: not measured).
    pub cols: Vec<(&'static str, Option<f64>)>,
    /// kiln cost / wasmtime cost (below 1: kiln faster or smaller), and what it compares.
    pub ratio: Option<f64>,
    /// The goal for this row, and whether it is met.
    pub goal: String,
}

impl Row {
    /// A row with the given columns and no ratio or goal yet.
    pub fn new(name: impl Into<String>, unit: &'static str) -> Row {
        Row {
            name: name.into(),
            unit,
            cols: Vec::new(),
            ratio: None,
            goal: String::new(),
        }
    }

    /// Adds a column.
    pub fn col(mut self, name: &'static str, v: Option<f64>) -> Row {
        self.cols.push((name, v));
        self
    }

    /// Sets the ratio as `kiln / other` when both are known.
    pub fn ratio_of(mut self, kiln: Option<f64>, other: Option<f64>) -> Row {
        self.ratio = match (kiln, other) {
            (Some(k), Some(o)) if o > 0.0 && k > 0.0 => Some(k / o),
            _ => None,
        };
        self
    }

    /// Sets the goal text.
    pub fn goal(mut self, g: impl Into<String>) -> Row {
        self.goal = g.into();
        self
    }
}

/// A titled table of rows with a short explanation.
#[derive(Clone, Debug)]
pub struct Section {
    /// Heading.
    pub title: String,
    /// What the rows measure and how.
    pub about: String,
    /// The rows.
    pub rows: Vec<Row>,
}
