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

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("video[data-hls]"), attach);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
