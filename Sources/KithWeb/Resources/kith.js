// Kith's only script, and an optional one: every page works without it.
// On the feed's first page it listens to the daemon's server-sent events
// and, when a friend's post, comment or reaction arrives, fetches the page
// again (as /?live=1, which leaves the new posts unread: they count as read
// once the page is loaded by hand) and swaps in its list of posts, keeping
// what is being typed.
(function () {
  "use strict";
  var list = document.getElementById("posts");
  if (!list || !window.EventSource || window.location.search !== "") { return; }
  var refreshing = false;
  function refresh() {
    if (refreshing) { return; }
    refreshing = true;
    fetch("/?live=1", { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("posts");
        if (fresh) { list.replaceChildren.apply(list, Array.prototype.slice.call(fresh.childNodes)); }
      })
      .catch(function () {})
      .then(function () { refreshing = false; });
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
  var refreshing = false;
  function refresh() {
    if (refreshing) { return; }
    refreshing = true;
    // live=1: what arrives while the page is open stays unread until the page is loaded again.
    fetch(window.location.pathname + window.location.search + "&live=1", { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("messages");
        if (fresh) { list.replaceChildren.apply(list, Array.prototype.slice.call(fresh.childNodes)); }
      })
      .catch(function () {})
      .then(function () { refreshing = false; });
  }
  var events = new EventSource(list.getAttribute("data-live"));
  events.addEventListener("feed", refresh);
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
