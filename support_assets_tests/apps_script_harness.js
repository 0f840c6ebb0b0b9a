// Runs deploy/apps_script/otp_to_sheet.gs under node with in-memory stand-ins for the Apps
// Script services it calls (GmailApp, SpreadsheetApp, PropertiesService, ScriptApp), so the
// repository tests the script itself. Input on stdin (JSON):
//   {"source": path, "call": name, "args": [...], "emails": [{subject, body, date}],
//    "properties": {...}, "cells": [[code, time]], "triggers": ["copyNewestOtp"]}
// Output on stdout (JSON): {result, cells, formats, ranges, triggers, logs, error}.
'use strict';
const fs = require('fs');
const vm = require('vm');

const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const out = {cells: input.cells || [['', '']], formats: [], ranges: [], logs: [], error: null};
let triggers = (input.triggers || []).map((name) => ({getHandlerFunction: () => name}));

const context = {
  console: {log: (text) => out.logs.push(String(text))},
  GmailApp: {
    search: (query, start, max) => {
      out.query = query;
      const messages = (input.emails || []).map((e) => ({
        getSubject: () => e.subject,
        getPlainBody: () => e.body,
        getDate: () => new Date(e.date),
      }));
      // One thread per two messages, newest thread first, as Gmail lists them.
      const threads = [];
      for (let i = 0; i < messages.length; i += 2) {
        const slice = messages.slice(i, i + 2);
        threads.push({getMessages: () => slice});
      }
      return threads.slice(start, start + max);
    },
  },
  PropertiesService: {
    getScriptProperties: () => ({getProperty: (k) => (input.properties || {})[k] || null}),
  },
  SpreadsheetApp: {
    openById: (id) => {
      out.sheetId = id;
      return {
        getRange: (a1) => {
          out.ranges.push(a1);
          return {
            getValues: () => out.cells,
            setValues: (values) => { out.cells = values; },
            setNumberFormat: (f) => { out.formats.push(f); },
          };
        },
      };
    },
  },
  ScriptApp: {
    getProjectTriggers: () => triggers,
    deleteTrigger: (t) => { triggers = triggers.filter((x) => x !== t); },
    newTrigger: (name) => ({
      timeBased: () => ({
        everyMinutes: (n) => ({
          create: () => { triggers.push({getHandlerFunction: () => name, minutes: n}); },
        }),
      }),
    }),
  },
};
vm.createContext(context);
vm.runInContext(fs.readFileSync(input.source, 'utf8'), context, {filename: input.source});
try {
  out.result = context[input.call](...(input.args || []));
} catch (err) {
  out.error = String(err.message || err);
}
out.triggers = triggers.map((t) => ({handler: t.getHandlerFunction(), minutes: t.minutes}));
process.stdout.write(JSON.stringify(out));
