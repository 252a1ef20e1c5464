/**
 * One turn of a Responses WebSocket conversation, as a client test drives it: send a frame
 * (usually `response.create`) and collect the events up to the turn's terminal one.
 */
import type WebSocket from "ws";

/** An event frame as the client reads it. */
export type TurnEvent = { type: string; [k: string]: any };

/** The events that end a turn. */
export const TERMINAL_EVENTS = ["response.completed", "response.failed", "response.incomplete", "error"];

/** Sends one frame and collects events until a terminal one. */
export function sendTurn(ws: WebSocket, frame: unknown): Promise<TurnEvent[]> {
  return new Promise((resolve) => {
    const events: TurnEvent[] = [];
    const onMessage = (data: WebSocket.RawData): void => {
      const ev = JSON.parse(data.toString()) as TurnEvent;
      events.push(ev);
      if (TERMINAL_EVENTS.includes(ev.type)) {
        ws.off("message", onMessage);
        resolve(events);
      }
    };
    ws.on("message", onMessage);
    ws.send(JSON.stringify(frame));
  });
}
