#pragma once
/// Text helpers shared by the report writers: escaping for XML/HTML, Markdown and CSV, and the
/// number formats readers see (seconds with one decimal, percentages, short decimals).
///
/// Pure functions, no locale dependence (a "." is always the decimal point).

#include <optional>
#include <string>

namespace zbatch::reports {

/// Escapes & < > " ' so the text is safe in XML/HTML text and attribute values.
std::string xml_escape(const std::string& text);

/// Escapes the characters that would break a Markdown table cell (| and newlines) or start
/// markup (\ ` * _ < >).
std::string markdown_escape(const std::string& text);

/// One RFC 4180 field: quoted when it holds a comma, a quote, CR or LF; quotes doubled.
std::string csv_field(const std::string& text);

/// `value` with at most `decimals` decimals, trailing zeros dropped ("1.5", "2", "0.667").
std::string format_decimal(double value, int decimals = 3);

/// Exactly `decimals` decimals ("18.0").
std::string format_fixed(double value, int decimals);

/// Milliseconds as seconds with one decimal and the unit ("18.0 s"); "n/a" for nullopt.
std::string format_seconds(std::optional<double> ms);

/// A ratio 0..1 as a percentage ("75%", "99.5%"); "n/a" for nullopt.
std::string format_percent(std::optional<double> ratio);

/// The shortest text that reads back as the same double (for CSV); integers without ".0".
std::string format_exact(double value);

}  // namespace zbatch::reports
