/*
 * bnlab report: live charts. Inlined into every page that has charts, after
 * assets/vega.js (Vega 5, vega-interpreter, Vega-Lite 5). Each figure holds its chart as a
 * static SVG and its Vega-Lite spec as JSON in a script element of type
 * application/json; when Vega is there, the SVG is swapped for a
 * live view with tooltips once the figure scrolls near. Without
 * JavaScript, or when anything fails, the static SVG stays.
 */
(function () {
  'use strict';
  var vega = window.vega;
  var vegaLite = window.vegaLite;
  // Vega's expressions (signals, calculate, filters, encodings) run through
  // vega-interpreter, which walks the parsed AST, instead of code Vega
  // generates and compiles with Function: the page's CSP allows no eval.
  var interpreter = vega && vega.expressionInterpreter;
  if (!vega || !vegaLite || !interpreter || !document.querySelectorAll) return;

  // The report is self-contained: a chart may not load anything.
  var loader = vega.loader();
  loader.load = function () {
    return Promise.reject(new Error('bnlab report: charts load no external data'));
  };
  loader.sanitize = loader.load;

  var tip = null;
  function tooltip(handler, event, item, value) {
    if (!tip) {
      tip = document.createElement('div');
      tip.className = 'chart-tooltip';
      document.body.appendChild(tip);
    }
    if (value === null || value === undefined || value === '') {
      tip.style.display = 'none';
      return;
    }
    var lines = [];
    if (typeof value === 'object') {
      for (var key in value) {
        if (Object.prototype.hasOwnProperty.call(value, key)) lines.push((key === 'title' ? '' : key + ': ') + String(value[key]));
      }
    } else lines.push(String(value));
    tip.textContent = lines.join('\n');
    tip.style.display = 'block';
    var x = event.clientX + 14;
    var y = event.clientY + 14;
    var w = tip.offsetWidth;
    var h = tip.offsetHeight;
    if (x + w > window.innerWidth - 8) x = Math.max(8, event.clientX - w - 14);
    if (y + h > window.innerHeight - 8) y = Math.max(8, event.clientY - h - 14);
    tip.style.left = x + 'px';
    tip.style.top = y + 'px';
  }

  /** Swaps one figure's SVG for a live view; calls done when settled (either way). */
  function live(figure, done) {
    done = done || function () {};
    if (figure.getAttribute('data-live')) return done();
    figure.setAttribute('data-live', 'pending');
    var holder = figure.querySelector('.chart-static');
    var specEl = document.getElementById(figure.getAttribute('data-spec'));
    var host = document.createElement('div');
    host.className = 'chart-live';
    function fail(err) {
      if (host.parentNode) host.parentNode.removeChild(host);
      figure.setAttribute('data-live', 'failed');
      if (window.console && err) console.warn('bnlab report: chart stays static:', err);
      done();
    }
    if (!holder || !specEl) return fail(null);
    try {
      var spec = JSON.parse(specEl.textContent);
      var compiled = vegaLite.compile(spec).spec;
      // ast: true keeps each expression's syntax tree for the interpreter (null: no extra config).
      var view = new vega.View(vega.parse(compiled, null, { ast: true }), { expr: interpreter, renderer: 'svg', container: host, hover: true, loader: loader, tooltip: tooltip, logLevel: vega.Error });
      host.style.display = 'none';
      holder.parentNode.insertBefore(host, holder);
      view.runAsync().then(function () {
        host.style.display = '';
        holder.parentNode.removeChild(holder);
        figure.setAttribute('data-live', 'yes');
        done();
      }, fail);
    } catch (err) {
      fail(err);
    }
  }

  // Figures scrolling into view go first; the rest follow one at a time, so
  // a page with many charts stays responsive and every chart ends up live.
  var figures = document.querySelectorAll('figure.chart[data-spec]');
  var queue = Array.prototype.slice.call(figures);
  if ('IntersectionObserver' in window) {
    var observer = new IntersectionObserver(
      function (entries) {
        entries.forEach(function (e) {
          if (e.isIntersecting) {
            observer.unobserve(e.target);
            live(e.target);
          }
        });
      },
      { rootMargin: '200px 0px' }
    );
    queue.forEach(function (f) { observer.observe(f); });
  }
  function pump() {
    var next = queue.shift();
    if (next) live(next, function () { setTimeout(pump, 20); });
  }
  setTimeout(pump, 50);
})();
