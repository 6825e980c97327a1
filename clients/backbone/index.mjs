// The ES module entry of backbone-live: the same library as the plain script backbone-live.js
// (which is also its CommonJS entry), so both share one Backbone and one set of collections.
import live from './backbone-live.js';

export const { LiveCollection, LiveModel, fetchAjax, useFetch, channelOf, ackExtension, create, VERSION } = live;
export default live;
