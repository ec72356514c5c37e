// MathJax typesets the \(...\) and \[...\] that pymdownx.arithmatex (generic mode) leaves in the
// pages, and nothing else. The bundle loaded after this is the site's own copy (docs/offline_math.py).
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex"
  }
};
