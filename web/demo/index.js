// Landing page: connect only to show that the server is reachable.
import { start } from '/demo.js';

start();
document.getElementById('endpoint').textContent = window.zocketClient.url;
