// MathJax 3 settings for pymdownx.arithmatex (generic mode): typeset only what arithmatex marked as math,
// from the copy of MathJax served with the site (assets/mathjax), never from a CDN.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
    tags: "ams"
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
    enableMenu: false
  },
  chtml: { fontURL: new URL("mathjax/output/chtml/fonts/woff-v2", document.currentScript.src).href }
};
