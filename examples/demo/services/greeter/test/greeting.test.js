import assert from 'node:assert/strict';
import { test } from 'node:test';
import { greet } from '../greeting.js';

test('greets by name', () => assert.equal(greet('Ada'), 'Hello, Ada!'));
test('greets the world by default', () => assert.equal(greet(''), 'Hello, world!'));
test('uses the configured greeting', () => assert.equal(greet('Ada', 'Hi'), 'Hi, Ada!'));
