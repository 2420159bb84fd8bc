"""HTML pages served by the test media server under ``/pages/``.

``{base}`` is replaced by the server's base URL (``http://127.0.0.1:<port>``).
"""

from __future__ import annotations

__all__ = ["PAGES"]

VIDEO = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Test video page</title>
<meta property="og:title" content="Test video page">
</head>
<body>
<h1>Test video</h1>
<video controls width="320" height="240" poster="/media/cover.jpg">
  <source src="/media/h264_aac.mp4" type="video/mp4">
  Your browser does not support video.
</video>
<p><a href="/pages/nomedia.html">another page</a></p>
</body>
</html>
"""

AUDIO = """\
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Test audio page</title></head>
<body>
<h1>Test audio</h1>
<audio controls src="/media/audio.mp3"></audio>
</body>
</html>
"""

# The media URL never appears literally: only a browser running the script finds it.
JS_PLAYER = """\
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>JS player page</title></head>
<body>
<h1>JS player</h1>
<div id="player">loading…</div>
<script>
  setTimeout(function () {
    var parts = ["/me", "dia/", "h264", "_aac", ".m", "p4"];
    var v = document.createElement("video");
    v.controls = true;
    v.muted = true;
    v.preload = "auto";
    v.autoplay = true;
    v.src = parts.join("");
    var box = document.getElementById("player");
    box.textContent = "";
    box.appendChild(v);
  }, 200);
</script>
</body>
</html>
"""

ISLAMIC = """\
<!doctype html>
<html lang="ar" dir="rtl">
<head>
<meta charset="utf-8">
<title>فضل العلم - الشيخ محمد المثال | طريق الإسلام</title>
<meta name="description" content="محاضرة فضل العلم للشيخ محمد المثال">
<meta property="og:title" content="فضل العلم">
</head>
<body>
<nav>
  <a href="/">الرئيسية</a>
  <a href="/pages/nomedia.html">المحاضرات</a>
  <a href="https://example.invalid/about">من نحن</a>
</nav>
<article class="lecture">
  <h1 class="lecture-title">فضل العلم</h1>
  <div class="speaker">الشيخ: <a href="/scholars/42">محمد المثال</a></div>
  <div class="meta">المدة: 00:05 · التصنيف: العلم</div>
  <audio controls preload="none">
    <source src="/media/audio.mp3" type="audio/mpeg">
  </audio>
  <ul class="downloads">
    <li><a class="download" href="{base}/media/audio.mp3" download>تحميل MP3</a></li>
    <li><a class="download" href="/media/audio.m4a">تحميل M4A</a></li>
    <li><a class="download" href="/media/h264_aac.mp4">تحميل الفيديو MP4</a></li>
  </ul>
  <img src="/media/cover.jpg" alt="صورة المحاضرة">
  <p>نص تفريغ المحاضرة… <a href="/pages/audio.html">محاضرة ذات صلة</a></p>
</article>
<footer><a href="#top">أعلى الصفحة</a> · <a href="/share?u=1">مشاركة</a></footer>
</body>
</html>
"""

NOMEDIA = """\
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Nothing to see</title></head>
<body>
<h1>Just text</h1>
<p>This page has no audio or video, only <a href="/pages/video.html">a link</a>
and an <img src="/media/cover.jpg" alt="image">.</p>
</body>
</html>
"""

# Truncated in the middle of a tag, unclosed elements, a stray byte sequence;
# no complete media URL.
BROKEN = """\
<!doctype html>
<html><head><title>Broken page<title>
<body><div><p>unclosed <b>bold <i>italic
<table><tr><td>cell</tr>
<a href="/pages/nomedia.html">ok link
<video controls><source src="/media/h264_aac.mp"""

PLAYLIST = """\
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Test playlist page</title></head>
<body>
<h1>Playlist</h1>
<ol class="playlist">
  <li><a href="/media/h264_aac.mp4">Episode 1 (video)</a></li>
  <li><a href="/media/vp9_opus.webm">Episode 2 (webm)</a></li>
  <li><a href="/media/audio.mp3">Episode 3 (mp3)</a></li>
  <li><a href="/media/audio.m4a">Episode 4 (m4a)</a></li>
</ol>
<video controls src="/media/noaudio.mp4"></video>
<video controls><source src="/media/long.mp4" type="video/mp4"></video>
</body>
</html>
"""

HLS = """\
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Test HLS page</title></head>
<body>
<video controls>
  <source src="/media/hls/index.m3u8" type="application/vnd.apple.mpegurl">
</video>
</body>
</html>
"""

PAGES: dict[str, str] = {
    "video.html": VIDEO,
    "audio.html": AUDIO,
    "js_player.html": JS_PLAYER,
    "islamic.html": ISLAMIC,
    "nomedia.html": NOMEDIA,
    "broken.html": BROKEN,
    "playlist.html": PLAYLIST,
    "hls.html": HLS,
}
