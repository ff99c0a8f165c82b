// Kith's only script, and an optional one: every page works without it.
// On the feed's first page (filtered or not) it listens to the daemon's
// server-sent events and, when a friend's post, comment or reaction
// arrives, fetches the same page again (with live=1, which leaves the new
// posts unread: they count as read once the page is loaded by hand) and
// swaps in its list of posts, keeping what is being typed. An older page
// (?before=) is left alone: the first page's posts never replace it.
// One fetch at a time: an event during a fetch is answered by one more
// fetch after it, so that nothing that arrived meanwhile is missed and no
// older answer replaces a newer one.
(function () {
  "use strict";
  var list = document.getElementById("posts");
  var search = window.location.search;
  if (!list || !window.EventSource || /[?&]before=/.test(search)) { return; }
  var refreshing = false, again = false;
  function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    again = false;
    fetch("/" + (search ? search + "&" : "?") + "live=1", { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("posts");
        if (fresh) { list.replaceChildren.apply(list, Array.prototype.slice.call(fresh.childNodes)); }
      })
      .catch(function () {})
      .then(function () {
        refreshing = false;
        if (again) { refresh(); }
      });
  }
  var events = new EventSource(list.getAttribute("data-live"));
  events.addEventListener("feed", refresh);
})();

// A conversation page (/chat): when a message arrives, fetches the page
// again and swaps in its list of messages, keeping what is being typed.
(function () {
  "use strict";
  var list = document.getElementById("messages");
  if (!list || !window.EventSource) { return; }
  var refreshing = false, again = false;
  function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    again = false;
    // live=1: what arrives while the page is open stays unread until the page is loaded again.
    fetch(window.location.pathname + window.location.search + "&live=1", { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("messages");
        if (fresh) { list.replaceChildren.apply(list, Array.prototype.slice.call(fresh.childNodes)); }
      })
      .catch(function () {})
      .then(function () {
        refreshing = false;
        if (again) { refresh(); }
      });
  }
  var events = new EventSource(list.getAttribute("data-live"));
  events.addEventListener("feed", refresh);
})();
