// Broadcast videos: the <video> element's own source is the MP4, which every browser plays.
// Where the browser plays HLS itself (Safari, iOS), or has Media Source Extensions for
// hls.js (vendor/hls.js), the adaptive HLS renditions are played instead, so a phone on a
// slow network gets the smaller one. Captions are the element's <track>, kept either way.
(function () {
  "use strict";

  function attach(video) {
    var master = video.getAttribute("data-hls");
    if (!master || video.getAttribute("data-player")) {
      return;
    }
    if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.setAttribute("data-player", "native-hls");
      video.src = master;
      return;
    }
    var Hls = window.Hls;
    if (!Hls || !Hls.isSupported()) {
      video.setAttribute("data-player", "mp4");
      return;
    }
    // No worker: the page's content security policy allows no blob: workers.
    var hls = new Hls({ enableWorker: false, capLevelToPlayerSize: true });
    hls.on(Hls.Events.ERROR, function (_event, data) {
      if (data.fatal) {
        // Back to the MP4 source rather than a broken player.
        hls.destroy();
        video.setAttribute("data-player", "mp4");
        video.removeAttribute("src");
        video.load();
      }
    });
    video.setAttribute("data-player", "hls.js");
    hls.loadSource(master);
    hls.attachMedia(video);
  }

  // Views and completions for the reach report: the player reports when playback starts and
  // when 90 % has been watched, each once per page (the server counts each once per viewer).
  // Without this script nothing is reported, so a page read without JavaScript counts nothing.
  function report(video, fraction) {
    var url = video.getAttribute("data-watched");
    var body = new FormData();
    body.append("fraction", String(fraction));
    body.append("csrfmiddlewaretoken", video.getAttribute("data-csrf") || "");
    window.fetch(url, { method: "POST", body: body, credentials: "same-origin" }).catch(function () {});
  }

  function watch(video) {
    if (!video.getAttribute("data-watched")) {
      return;
    }
    var started = false;
    var completed = false;
    video.addEventListener("play", function () {
      if (!started) {
        started = true;
        report(video, 0);
      }
    });
    video.addEventListener("timeupdate", function () {
      var fraction = video.duration ? video.currentTime / video.duration : 0;
      if (started && !completed && fraction >= 0.9) {
        completed = true;
        report(video, Math.min(fraction, 1));
      }
    });
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("video[data-hls]"), function (video) {
      attach(video);
      watch(video);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
