// Where the retrieval prompts' material comes from: WordNet lemmas for the LongChat-Lines
// labels, and the needle haystack (a user's text file, or the prose of Perl's own
// documentation as shipped by Debian's perl-doc).
#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <sstream>

#include "cream/data/prompts.h"
#include "cream/util/error.h"
#include "cream/util/fs.h"

namespace cream::data {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMinWords = 100;

bool is_plain_word(const std::string& word) {
  return word.size() >= 3 && word.size() <= 10 &&
         std::all_of(word.begin(), word.end(), [](char c) { return c >= 'a' && c <= 'z'; });
}

// WordNet index file: a license header (lines starting with two spaces), then one lemma per
// line as the first space-separated field. Only short, plain lower-case words are kept.
std::vector<std::string> read_wordnet_index(const fs::path& file) {
  std::ifstream in(file);
  CREAM_CHECK(in.good(), "word list " + file.string() + " cannot be read (install Debian's wordnet-base)");
  std::vector<std::string> words;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("  ", 0) == 0) continue;
    std::string lemma = line.substr(0, line.find(' '));
    if (is_plain_word(lemma)) words.push_back(std::move(lemma));
  }
  std::sort(words.begin(), words.end());
  words.erase(std::unique(words.begin(), words.end()), words.end());
  CREAM_CHECK(words.size() >= kMinWords, "word list " + file.string() + " has only " + std::to_string(words.size()) +
                                             " usable words (need at least " + std::to_string(kMinWords) + ")");
  return words;
}

// --- POD formatting codes ------------------------------------------------------------------------

std::string entity_text(const std::string& name) {
  if (name == "lt") return "<";
  if (name == "gt") return ">";
  if (name == "verbar") return "|";
  if (name == "sol") return "/";
  if (name == "quot") return "\"";
  if (name == "amp") return "&";
  if (name == "apos") return "'";
  if (!name.empty() && std::all_of(name.begin(), name.end(), [](char c) { return std::isdigit(c); })) {
    const int code = std::stoi(name);
    if (code > 0 && code < 128) return std::string(1, static_cast<char>(code));
  }
  return "";  // other entities are non-ASCII letters; dropping them keeps the text ASCII
}

// The text a formatting code stands for.
std::string render_code(char letter, const std::string& content) {
  switch (letter) {
    case 'X':
    case 'Z':
      return "";  // index entries and null codes print nothing
    case 'E':
      return entity_text(content);
    case 'L': {
      const size_t bar = content.find('|');
      std::string text = bar == std::string::npos ? content : content.substr(0, bar);
      text.erase(std::remove(text.begin(), text.end(), '"'), text.end());
      return text;
    }
    default:
      return content;  // B, I, C, F, S: the text itself
  }
}

struct OpenCode {
  char letter;
  size_t angles;  // 1: "X<...>"; k >= 2: "X<< ... >>" closed by whitespace and k '>'
  std::string content;
};

// Length of the closing delimiter of `code` at `i`, or 0.
size_t closing_at(const std::string& text, size_t i, const OpenCode& code) {
  if (code.angles == 1) return text[i] == '>' ? 1 : 0;
  if (!std::isspace(static_cast<unsigned char>(text[i]))) return 0;
  size_t j = i;
  while (j < text.size() && std::isspace(static_cast<unsigned char>(text[j]))) ++j;
  if (text.compare(j, code.angles, std::string(code.angles, '>')) != 0) return 0;
  return j - i + code.angles;
}

std::string strip_formatting_codes(const std::string& text) {
  std::vector<OpenCode> open;
  std::string out;
  auto sink = [&]() -> std::string& { return open.empty() ? out : open.back().content; };
  for (size_t i = 0; i < text.size();) {
    if (!open.empty()) {
      if (const size_t close = closing_at(text, i, open.back())) {
        const OpenCode code = std::move(open.back());
        open.pop_back();
        sink() += render_code(code.letter, code.content);
        i += close;
        continue;
      }
    }
    if (i + 1 < text.size() && std::strchr("IBCLEFSXZ", text[i]) && text[i] != '\0' && text[i + 1] == '<') {
      size_t angles = 1;
      while (i + 1 + angles < text.size() && text[i + 1 + angles] == '<') ++angles;
      size_t after = i + 1 + angles;
      if (angles >= 2) {
        if (after >= text.size() || !std::isspace(static_cast<unsigned char>(text[after]))) angles = 1, after = i + 2;
        while (angles >= 2 && after < text.size() && std::isspace(static_cast<unsigned char>(text[after]))) ++after;
      }
      open.push_back({text[i], angles, ""});
      i = after;
      continue;
    }
    sink() += text[i++];
  }
  while (!open.empty()) {  // unclosed codes: keep their raw text
    const OpenCode code = std::move(open.back());
    open.pop_back();
    sink() += std::string(1, code.letter) + std::string(code.angles, '<') + code.content;
  }
  return out;
}

bool blank(const std::string& line) {
  return std::all_of(line.begin(), line.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
}

}  // namespace

WordLists load_word_lists(const fs::path& folder) {
  WordLists words;
  words.adjectives = read_wordnet_index(folder / "index.adj");
  words.nouns = read_wordnet_index(folder / "index.noun");
  words.source = "wordnet:" + folder.string() + " (" + std::to_string(words.adjectives.size()) + " adjectives, " +
                 std::to_string(words.nouns.size()) + " nouns)";
  return words;
}

std::string pod_prose(const std::string& pod) {
  std::istringstream in(pod);
  std::string prose, paragraph;
  bool command_paragraph = false, in_begin_block = false, at_paragraph_start = true;
  auto flush = [&] {
    const std::string text = strip_formatting_codes(paragraph);
    if (!blank(text)) prose += (prose.empty() ? "" : "\n\n") + text;
    paragraph.clear();
  };
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (blank(line)) {
      flush();
      command_paragraph = false;
      at_paragraph_start = true;
      continue;
    }
    if (at_paragraph_start && line[0] == '=') {
      command_paragraph = true;                                 // "=head1 NAME", "=item", "=over": markup, not prose
      if (line.rfind("=begin", 0) == 0) in_begin_block = true;  // formatter-specific (html, man) until =end
      if (line.rfind("=end", 0) == 0) in_begin_block = false;
    }
    at_paragraph_start = false;
    if (command_paragraph || in_begin_block || line[0] == ' ' || line[0] == '\t') continue;
    paragraph += (paragraph.empty() ? "" : " ") + line;
  }
  flush();
  return prose;
}

std::vector<fs::path> default_haystack_files() {
  const fs::path root = "/usr/share/perl";
  std::vector<fs::path> files;
  std::error_code error;
  if (fs::is_directory(root, error)) {
    std::vector<fs::path> versions;
    for (const auto& entry : fs::directory_iterator(root, error))
      if (fs::is_directory(entry.path() / "pod")) versions.push_back(entry.path() / "pod");
    std::sort(versions.begin(), versions.end());
    if (!versions.empty()) {  // "5.36.0" and its alias "5.36" hold the same files: take one
      for (const auto& entry : fs::directory_iterator(versions.front(), error))
        if (entry.path().extension() == ".pod") files.push_back(entry.path());
    }
  }
  CREAM_CHECK(!files.empty(), "default haystack: no .pod files under " + root.string() +
                                  "/<version>/pod (install Debian's perl-doc, or pass --haystack FILE)");
  std::sort(files.begin(), files.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename().string() < b.filename().string(); });
  return files;
}

Haystack load_haystack(const io::Tokenizer& tokenizer, const std::optional<fs::path>& file) {
  Haystack haystack;
  std::string text;
  if (file) {
    std::error_code error;
    CREAM_CHECK(fs::is_regular_file(*file, error), "haystack " + file->string() + " does not exist");
    text = util::read_text_file(*file);
    haystack.source = file->string();
  } else {
    const auto files = default_haystack_files();
    for (const auto& pod : files) {
      const std::string prose = pod_prose(util::read_text_file(pod));
      if (!prose.empty()) text += (text.empty() ? "" : "\n\n") + prose;
    }
    haystack.source =
        "perl-doc:" + files.front().parent_path().string() + " (" + std::to_string(files.size()) + " .pod files)";
  }
  CREAM_CHECK(!blank(text), "haystack " + haystack.source + " holds no text");
  haystack.ids = tokenizer.encode(text);
  CREAM_CHECK(!haystack.ids.empty(), "haystack " + haystack.source + " encodes to no tokens");
  return haystack;
}

}  // namespace cream::data
