// Kith's only script, and an optional one: every page works without it.
// A live part of a page listens to the daemon's server-sent events and,
// when a friend's post, comment, reaction, edit, delete or message
// arrives, fetches the page again and swaps in that part, keeping what is
// being typed elsewhere on the page:
// - the feed's first page, its list of posts, fetched as /?live=1, which
//   leaves new posts unread (they count as read once the page is loaded by
//   hand);
// - a post's page, the post with its reactions and comments;
// - a conversation (/chat), its messages, with live=1 as well.
(function () {
  "use strict";
  if (!window.EventSource || !window.fetch) { return; }
  function live(part, url) {
    var refreshing = false;
    function refresh() {
      if (refreshing) { return; }
      refreshing = true;
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (!html) { return; }
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(part.id);
          if (fresh) { part.replaceChildren.apply(part, Array.prototype.slice.call(fresh.childNodes)); }
        })
        .catch(function () {})
        .then(function () { refreshing = false; });
    }
    new EventSource(part.getAttribute("data-live")).addEventListener("feed", refresh);
  }
  var posts = document.getElementById("posts");
  if (posts && !new URLSearchParams(window.location.search).has("before")) { live(posts, "/?live=1"); }
  var thread = document.getElementById("thread");
  if (thread) { live(thread, window.location.pathname); }
  var messages = document.getElementById("messages");
  if (messages) { live(messages, window.location.pathname + window.location.search + "&live=1"); }
})();
