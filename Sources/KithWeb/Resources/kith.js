// Kith's only script, and an optional one: every page works without it.
// A live part of a page listens to the daemon's server-sent events and,
// when a friend's post, comment, reaction, edit, delete or message
// arrives, fetches the page again and swaps in that part, keeping what is
// being typed elsewhere on the page:
// - the feed's first page (filtered or not), its list of posts, fetched
//   with live=1, which leaves new posts unread (they count as read once the
//   page is loaded by hand); an older page (?before=) is left alone, so the
//   first page's posts never replace it;
// - a post's page, the post with its reactions and comments;
// - a conversation (/chat), its messages, with live=1 as well.
// One fetch at a time: an event during a fetch is answered by one more
// fetch after it, so that nothing that arrived meanwhile is missed and no
// older answer replaces a newer one.
// The stream's address (data-live) carries the count of changes the page
// was made at, and a reconnecting stream sends its last event's id, the
// count it told of: if more came before the stream opened or while it was
// cut, the daemon's first event says so at once (WebEvents).
(function () {
  "use strict";
  if (!window.EventSource || !window.fetch) { return; }
  function live(part, url) {
    var refreshing = false, again = false;
    function refresh() {
      if (refreshing) { again = true; return; }
      refreshing = true;
      again = false;
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (!html) { return; }
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(part.id);
          if (fresh) { part.replaceChildren.apply(part, Array.prototype.slice.call(fresh.childNodes)); }
        })
        .catch(function () {})
        .then(function () {
          refreshing = false;
          if (again) { refresh(); }
        });
    }
    new EventSource(part.getAttribute("data-live")).addEventListener("feed", refresh);
  }
  var search = window.location.search;
  var posts = document.getElementById("posts");
  if (posts && !new URLSearchParams(search).has("before")) { live(posts, "/" + (search ? search + "&" : "?") + "live=1"); }
  var thread = document.getElementById("thread");
  if (thread) { live(thread, window.location.pathname); }
  var messages = document.getElementById("messages");
  if (messages) { live(messages, window.location.pathname + search + "&live=1"); }
})();

// The composer and the profile form: thumbnails of the photos chosen, before
// anything is sent (blob: URLs of the files, which never leave the browser).
(function () {
  "use strict";
  var previews = document.getElementById("photo-previews");
  var input = document.getElementById("post-photos") || document.getElementById("profile-avatar");
  if (!previews || !input || !window.URL || !URL.createObjectURL) { return; }
  var shown = [];
  input.addEventListener("change", function () {
    shown.forEach(function (url) { URL.revokeObjectURL(url); });
    shown = [];
    previews.replaceChildren();
    Array.prototype.forEach.call(input.files, function (file, index) {
      var url = URL.createObjectURL(file);
      shown.push(url);
      var img = document.createElement("img");
      img.src = url;
      img.alt = "Photo " + (index + 1) + " to send: " + file.name;
      img.className = "preview";
      previews.appendChild(img);
    });
  });
})();
